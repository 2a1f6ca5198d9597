import type * as v from 'valibot'

/**
 * The API's wording for every valibot issue a schema does not word itself (valibot's defaults read
 * `Invalid key: Expected "title" but received undefined`). Passed as the parse config's `message`, so it
 * covers missing and unknown keys and type mismatches in every schema; rules keep their own messages.
 */
export const apiMessage = (issue: v.BaseIssue<unknown>): string => {
  switch (issue.type) {
    case 'object':
    case 'strict_object':
    case 'loose_object':
      if (issue.expected === 'never') return 'unknown field; remove it'
      if (issue.received === 'undefined' && issue.expected?.startsWith('"')) return 'is required'
      return 'must be a JSON object'
    case 'string':
      return 'must be a string'
    case 'array':
      return 'must be an array'
    case 'number':
      return 'must be a number'
    case 'boolean':
      return 'must be true or false'
    default:
      return issue.expected ? `must be ${issue.expected}` : 'is not valid here'
  }
}

/** Length in characters (Unicode code points), as PostgreSQL counts them: an emoji is one, not two. */
export const characters = (text: string): number => {
  let count = text.length
  for (let i = 0; i < text.length - 1; i++) {
    const high = text.charCodeAt(i)
    if (high < 0xd800 || high > 0xdbff) continue
    const low = text.charCodeAt(i + 1)
    if (low >= 0xdc00 && low <= 0xdfff) {
      count--
      i++
    }
  }
  return count
}
