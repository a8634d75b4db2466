/**
 * The environment for a Node process a test starts (the service, a script): this process's, without
 * NODE_TEST_CONTEXT. The test runner sets that variable for each test file it runs, and a child that inherits it
 * takes itself for one of those files: on Node 24 a script that stops on an uncaught error then hangs instead of
 * exiting (seen with `render:photos --workers 0`), so a test waiting for it never ends.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  return env;
}
