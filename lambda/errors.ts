// The one error family: every error the bridge throws on purpose is a BridgeError with a stable `code`, so
// a caller tells "ours, with a message meant for a person" from a bug with one `instanceof` (infra/app.ts
// prints the former alone, without a stack trace). Errors that rewrap another keep it as `cause`.
// Each subclass lives beside the code that throws it; this module imports nothing, so any module may use it.

export class BridgeError extends Error {
  constructor(
    /** Machine-readable kind of the error, stable across releases (subclasses narrow it). */
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    // Set explicitly, not from the constructor's name: the bundle is minified.
    this.name = 'BridgeError';
  }
}

/**
 * A configuration the bridge refuses (environment, routes, CDK context, schema files): the message names
 * every problem and how to fix it, so it is shown to the person alone.
 */
export class ConfigError extends BridgeError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'ConfigError';
  }
}
