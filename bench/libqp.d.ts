declare module 'libqp' {
  export function decode(input: string): Buffer;
}
