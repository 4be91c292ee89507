import { ConfigError } from './env.js';

/**
 * The bad variables of one configuration, gathered while it is read: a user who got two wrong learns both at once,
 * instead of fixing one, restarting, and meeting the next.
 */
export class ConfigProblems {
  private readonly lines: string[] = [];

  /**
   * What `read` returns; when it throws a ConfigError, its line is kept and `standIn` returned so that reading
   * goes on (the configuration is refused as a whole by `throwIfAny`, so the stand-in is never used to start).
   */
  read<T>(read: () => T, standIn: T): T {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.lines.push(...error.problems);
      return standIn;
    }
  }

  /** Whether a bad variable was met. */
  get any(): boolean {
    return this.lines.length > 0;
  }

  /** Every bad variable so far, one line each, as one ConfigError; nothing when all were good. */
  throwIfAny(): void {
    if (this.lines.length > 0) throw new ConfigError(this.lines);
  }
}
