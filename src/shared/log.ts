import pino from 'pino';

/**
 * One logger for the process. Fields that may carry secrets are redacted
 * wherever they appear, so a token or password never reaches the log.
 */
export const log = pino({
  level: process.env.LOG_LEVEL || 'info',
  redact: {
    paths: [
      'password', '*.password', 'token', '*.token', 'hmac', '*.hmac', 'secret', '*.secret',
      'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie',
    ],
    censor: '[redacted]',
  },
  base: undefined,
});
