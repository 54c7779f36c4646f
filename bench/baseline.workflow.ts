import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

/** The cheapest flow Temporal can run: wait for one update, answer it, finish. */
export const finish = defineUpdate<string, [string]>('finish');

export async function baselineFlow(): Promise<string> {
  let answer: string | undefined;
  setHandler(finish, (value) => {
    answer = value;
    return value;
  });
  await condition(() => answer !== undefined, '1 hour');
  return answer ?? 'expired';
}
