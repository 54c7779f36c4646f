// Every workflow the worker runs. Each flow lives in its own folder beside this file.
export * from './trial/workflow';
export * from './invitation/workflow';
