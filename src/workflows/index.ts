// Every workflow the worker runs. Each flow lives in its own folder beside this file.
export * from './billing/workflow';
export * from './invitation/workflow';
export * from './trial/workflow';
