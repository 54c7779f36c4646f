import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Loaded by path (DataConverter.failureConverterPath) in the worker, its
 * workflow bundle and every client: failure messages and stack traces are
 * written as an encoded payload, which the payload codec encrypts, since a
 * message may name a person ("No trial registration for ada@…").
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
