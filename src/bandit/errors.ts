/** Thrown for a configuration the engine cannot build (unknown name, parameter out of range). */
export class BanditConfigError extends Error {
  /** JSON Pointer of the offending field inside the config, e.g. /strategy/epsilon. */
  constructor(readonly path: string, message: string) {
    super(message);
    this.name = 'BanditConfigError';
  }
}
