/**
 * The whole command-line interface of `rdskit-kms`: commands, their flags and positionals. The parser,
 * the help text and the docs' reference all read this object; change the CLI here. It stays one literal
 * (no shared constants) so tools can read it from the source without running it.
 */
export const cliSpec = {
  name: 'rdskit-kms',
  summary:
    'Encrypt values for, and check, KMS-encrypted Lambda environment variables (the Lambda console encryption helpers pattern).',
  commands: {
    encrypt: {
      summary:
        'Encrypt the value read from stdin (never from arguments: they land in shell history) and print the base64 ciphertext, ready for the environment variable.',
      usage:
        'rdskit-kms encrypt --key-id K --function-name F [--region R] [--no-context] [--endpoint URL] < value',
      positionals: undefined,
      flags: {
        'key-id': {
          type: 'string',
          value: 'K',
          required: true,
          description: 'KMS key: key id, key ARN, alias name or alias ARN.',
        },
        'function-name': {
          type: 'string',
          value: 'F',
          required: false,
          description:
            'Lambda function name, bound as the encryption context { LambdaFunctionName: F }. Required unless --no-context.',
        },
        region: {
          type: 'string',
          value: 'R',
          required: false,
          description: 'AWS region (default: AWS_REGION or the profile).',
        },
        'no-context': {
          type: 'boolean',
          required: false,
          description:
            'Encrypt without an encryption context (decrypt with encryptionContext: false). Not recommended.',
        },
        endpoint: {
          type: 'string',
          value: 'URL',
          required: false,
          description:
            'KMS endpoint URL, e.g. the @rdskit/testing endpoint (default: AWS_ENDPOINT_URL_KMS, else AWS). A loopback URL gets dummy credentials when none are set.',
        },
        'keep-newline': {
          type: 'boolean',
          required: false,
          description: 'Keep one trailing newline of stdin (dropped by default, since `echo` adds one).',
        },
      },
    },
    check: {
      summary:
        'Decrypt the named variables from the environment and report OK or FAILED with a hint for each, never the value. Exit code 1 if any failed.',
      usage:
        'rdskit-kms check --function-name F [--key-id K] [--region R] [--no-context] [--endpoint URL] VAR...',
      positionals: { value: 'VAR...', description: 'Names of environment variables holding ciphertexts.' },
      flags: {
        'function-name': {
          type: 'string',
          value: 'F',
          required: false,
          description:
            'Lambda function name for the encryption context (default: AWS_LAMBDA_FUNCTION_NAME). Required unless --no-context.',
        },
        'key-id': {
          type: 'string',
          value: 'K',
          required: false,
          description: 'Pin Decrypt to this key, as kmsEnv’s keyId does.',
        },
        region: {
          type: 'string',
          value: 'R',
          required: false,
          description: 'AWS region (default: AWS_REGION or the profile).',
        },
        'no-context': {
          type: 'boolean',
          required: false,
          description: 'Decrypt without an encryption context.',
        },
        endpoint: {
          type: 'string',
          value: 'URL',
          required: false,
          description:
            'KMS endpoint URL, e.g. the @rdskit/testing endpoint (default: AWS_ENDPOINT_URL_KMS, else AWS). A loopback URL gets dummy credentials when none are set.',
        },
      },
    },
  },
  globalFlags: {
    help: {
      type: 'boolean',
      short: 'h',
      required: false,
      description: 'Show help (also: rdskit-kms <command> --help).',
    },
    version: { type: 'boolean', short: 'v', required: false, description: 'Print the version.' },
  },
  exitCodes: {
    0: 'success',
    1: 'a KMS or decryption failure',
    2: 'a usage error',
    130: 'cancelled at the prompt (Ctrl-C)',
  },
} as const

export type CliCommand = keyof typeof cliSpec.commands
