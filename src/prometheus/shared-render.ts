import { gzip } from 'node:zlib';

/** One rendered exposition, as the bytes every response shares. */
export interface Rendered {
  readonly body: Buffer;
  /** The body gzipped (once, on libuv's thread pool, whoever asks first); undefined when zlib failed. */
  gzipped(): Promise<Buffer | undefined>;
}

/** A scrape within this long of the end of a render gets that render rather than another collection. */
export const REUSE_RENDER_MS = 100;

/**
 * One collection serves every scrape that arrives while it runs, and those in the short window after it ends: a
 * thousand parallel scrapes otherwise meant a thousand collections, a thousand copies of the text and of its gzip
 * in memory at once (RSS from 64 to ~500 MiB, the event loop stalled for most of a second). Responses share one
 * Buffer; a failed render is not kept (the next scrape tries again).
 */
export class SharedRender {
  private inFlight: Promise<Rendered> | undefined;
  private recent: Rendered | undefined;
  private recentTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly render: () => Promise<string>,
    private readonly reuseMs = REUSE_RENDER_MS,
  ) {}

  get(): Promise<Rendered> {
    if (this.recent !== undefined) return Promise.resolve(this.recent);
    this.inFlight ??= this.render().then(
      (text) => {
        this.inFlight = undefined;
        const rendered = shareable(text);
        this.keep(rendered);
        return rendered;
      },
      (error: unknown) => {
        this.inFlight = undefined;
        throw error;
      },
    );
    return this.inFlight;
  }

  /** Forgets the kept render (its memory with it) at once. */
  clear(): void {
    clearTimeout(this.recentTimer);
    this.recent = undefined;
  }

  private keep(rendered: Rendered): void {
    if (this.reuseMs <= 0) return;
    this.recent = rendered;
    clearTimeout(this.recentTimer);
    // Dropped when the window ends rather than at the next scrape, so that an idle endpoint holds no text.
    this.recentTimer = setTimeout(() => {
      this.recent = undefined;
    }, this.reuseMs);
    this.recentTimer.unref();
  }
}

function shareable(text: string): Rendered {
  const body = Buffer.from(text);
  let compressed: Promise<Buffer | undefined> | undefined;
  return {
    body,
    gzipped: () => {
      compressed ??= new Promise((resolve) => {
        // level 1, the fastest: the text compresses ~20× all the same.
        gzip(body, { level: 1 }, (error, result) => resolve(error === null ? result : undefined));
      });
      return compressed;
    },
  };
}
