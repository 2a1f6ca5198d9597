/**
 * An error answered on the wire the way KMS answers it: an HTTP status and a body
 * `{"__type": name, "message": ...}` that the SDK turns into an exception of that name.
 */
export class KmsProtocolError extends Error {
  readonly type: string
  readonly status: number

  constructor(type: string, message: string, status = 400) {
    super(message)
    this.name = 'KmsProtocolError'
    this.type = type
    this.status = status
  }
}

export const validation = (message: string) => new KmsProtocolError('ValidationException', message)
