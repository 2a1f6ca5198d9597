import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda'

export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

export const noContent = (headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 => ({
  statusCode: 204,
  headers,
})
