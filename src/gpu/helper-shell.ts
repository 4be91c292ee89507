import { type ChildProcess, type ExecFileException, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';

/** How one command ended: its exit status, or the signal that killed it; and what it wrote. */
export interface HelperResult {
  /** Exit status, or undefined when a signal ended it. */
  readonly code: number | undefined;
  /** The signal's name ("SIGBUS"), or undefined for a normal exit. */
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout was longer than the limit and was cut there. */
  readonly truncated: boolean;
}

export class HelperShellError extends Error {
  override readonly name = 'HelperShellError';
}

/**
 * The loop the shell runs, a constant: each command arrives as data, never as shell text (no `eval`, no expansion):
 * a line with the number of arguments, then one line per argument, read with `read -r` into the positional
 * parameters. The command runs in the background so that its PID can be announced (for the timeout's kill), its
 * output into two files, its status (128 + N for signal N, as `wait` gives it) announced when it ends.
 */
const LOOP = [
  'while IFS= read -r count; do',
  '  set --',
  '  while [ "$count" -gt 0 ]; do IFS= read -r argument; set -- "$@" "$argument"; count=$((count - 1)); done',
  '  "$@" >"$HELPER_DIR/out" 2>"$HELPER_DIR/err" </dev/null &',
  '  pid=$!',
  '  echo "started $pid"',
  '  wait "$pid"',
  '  echo "exit $?"',
  'done',
].join('\n');

/** How long a killed command may take to be reported ended before the helper is given up. */
const KILL_GRACE_MS = 2000;

/** Signal numbers to names ("SIGBUS"), for saying how a command died. */
const SIGNALS = new Map<number, string>(
  Object.entries(constants.signals).map(([name, number]) => [number, name]),
);

/**
 * Runs the package's own helper commands (nvidia-smi, the NVML load probe) as children of a long-lived shell loop
 * that is not this process's child. Why: Linux charges the CPU of every child a process waits for to its
 * RUSAGE_CHILDREN (cutime/cstime), which the span processor reports as the application's children's CPU and the
 * `run` command as the measured tree's. A command spawned here directly would put our own GPU polling there. The
 * loop is forked into the background by a starter that then becomes `cat` and never waits for it; the loop reaps
 * its commands itself, so their CPU is never ours; when `cat` ends (close(), or this process gone) the loop is
 * adopted by init or the nearest subreaper, which never reports it here. What is charged here is `cat`'s ~1 ms,
 * once per helper. Commands run one at a time, in order. Without /bin/sh they run as direct children instead.
 */
export class HelperShell {
  private readonly directory = mkdtempSync(join(tmpdir(), 'otel-resource-tracker-'));
  /** undefined: no /bin/sh here (a distroless image); commands then run as direct children (see runDirectly). */
  private readonly shell: ChildProcess | undefined;
  private readonly lifeline: Writable | null = null;
  private readonly env: NodeJS.ProcessEnv;
  private queue: Promise<unknown> = Promise.resolve();
  private waiter: { resolve: (line: string) => void; reject: (error: Error) => void } | undefined;
  private readonly lines: string[] = [];
  private buffered = '';
  private closed = false;
  private failure: Error | undefined;
  /** The directory goes with the process too: a provider that is never shut down must not leave it in /tmp. */
  private readonly closeAtExit = () => this.close();

  constructor(env: NodeJS.ProcessEnv = process.env, useShell = existsSync('/bin/sh')) {
    const { NODE_OPTIONS: _preload, ...inherited } = env;
    // NODE_OPTIONS is left out: a probe `node` must not load this package's zero-code entry again.
    this.env = inherited;
    process.once('exit', this.closeAtExit);
    if (!useShell) {
      this.shell = undefined;
      return;
    }
    // The loop runs in the background (a background list's stdin is /dev/null unless redirected: it reads the
    // command pipe through descriptor 4), and the starter becomes `cat` on an idle pipe (descriptor 3): cat never
    // waits for the loop, so no CPU of it is ever charged here, and it ends (so the loop is adopted by init) when
    // that pipe closes, on close() or with this process. Node closes a child's stdin when the child exits: cat
    // staying alive keeps the command pipe open.
    this.shell = spawn(
      '/bin/sh',
      ['-c', `exec 4<&0 </dev/null; (${LOOP}\n) <&4 4<&- 3<&- & exec 4<&-; exec cat <&3 >/dev/null`],
      {
        env: { ...inherited, HELPER_DIR: this.directory },
        stdio: ['pipe', 'pipe', 'ignore', 'pipe'],
        windowsHide: true,
      },
    );
    this.lifeline = this.shell.stdio[3] as Writable | null;
    this.shell.on('error', (error) => this.fail(error));
    this.shell.stdin?.on('error', (error) => this.fail(error));
    this.shell.stdout?.setEncoding('utf8');
    this.shell.stdout?.on('data', (chunk: string) => this.take(chunk));
    this.shell.stdout?.on('end', () => this.fail(new HelperShellError('the helper shell ended')));
    // Neither the starter shell nor the pipes may keep the application alive.
    this.shell.unref();
    for (const stream of [this.shell.stdin, this.shell.stdout, this.lifeline])
      (stream as { unref?: () => void } | null)?.unref?.();
  }

  /** Runs `argv` (no shell expansion), killing it after `timeoutMs`; stdout is kept up to `maxOutputBytes`. */
  run(argv: readonly string[], timeoutMs: number, maxOutputBytes = 1024 * 1024): Promise<HelperResult> {
    // One contract in both modes: the shell reads one argument per line.
    if (argv.length === 0 || argv.some((argument) => /[\n\r\0]/.test(argument))) {
      return Promise.reject(
        new HelperShellError('a helper command is empty or an argument holds a line break or NUL'),
      );
    }
    const next = this.queue.then(() =>
      this.shell === undefined
        ? this.runDirectly(argv, timeoutMs, maxOutputBytes)
        : this.runNow(this.shell, argv, timeoutMs, maxOutputBytes),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the shell (it reaps its own commands; nothing of it is charged here). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.closeAtExit);
    this.shell?.stdin?.end();
    this.lifeline?.destroy();
    this.fail(new HelperShellError('the helper shell is closed'));
    try {
      rmSync(this.directory, { recursive: true, force: true });
    } catch {
      // A temporary directory left behind is harmless.
    }
  }

  /**
   * Without /bin/sh: the command as this process's own child (no shell either way), so that GPU figures still
   * work there; its CPU is then charged to this process's children, as docs/gpu.md says.
   */
  private runDirectly(
    argv: readonly string[],
    timeoutMs: number,
    maxOutputBytes: number,
  ): Promise<HelperResult> {
    const [file, ...args] = argv;
    if (file === undefined || this.closed) return Promise.reject(new HelperShellError('nothing to run'));
    return new Promise((resolve) => {
      execFile(
        file,
        args,
        {
          env: this.env,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: maxOutputBytes,
          windowsHide: true,
        },
        (error: ExecFileException | null, stdout: string, stderr: string) => {
          const truncated = error?.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';
          const timedOut = error?.killed === true && !truncated;
          resolve({
            // A command that could not be started at all (ENOENT, EACCES) reads as the shell's 127.
            code:
              error === null
                ? 0
                : typeof error.code === 'number'
                  ? error.code
                  : error.signal
                    ? undefined
                    : 127,
            signal: error?.signal ?? undefined,
            timedOut,
            stdout,
            stderr: stderr.slice(0, 4096),
            truncated,
          });
        },
      );
    });
  }

  private async runNow(
    shell: ChildProcess,
    argv: readonly string[],
    timeoutMs: number,
    maxOutputBytes: number,
  ): Promise<HelperResult> {
    if (this.failure !== undefined) throw this.failure;
    // While a command runs (at most timeoutMs, then it is killed) its answer is awaited: the pipe keeps the
    // process alive that long, and no longer.
    const answers = shell.stdout as { ref?: () => void; unref?: () => void } | null;
    answers?.ref?.();
    let pid = 0;
    let timedOut = false;
    let unkillable: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
        else this.fail(new HelperShellError('the helper shell did not start the command'));
      } catch {
        // It ended meanwhile.
      }
      // A process stuck in the kernel (a hung driver) outlives SIGKILL: this helper is given up, not waited for.
      unkillable = setTimeout(
        () => this.fail(new HelperShellError(`${argv[0]} did not end ${KILL_GRACE_MS} ms after SIGKILL`)),
        KILL_GRACE_MS,
      );
    }, timeoutMs);
    let status: number;
    try {
      shell.stdin?.write(`${argv.length}\n${argv.map((argument) => `${argument}\n`).join('')}`);
      pid = Number(/^started (\d+)$/.exec(await this.nextLine())?.[1] ?? 0);
      status = Number(/^exit (\d+)$/.exec(await this.nextLine())?.[1] ?? Number.NaN);
    } finally {
      clearTimeout(timer);
      clearTimeout(unkillable);
      answers?.unref?.();
    }
    const stdout = this.readOutput('out', maxOutputBytes);
    const stderr = this.readOutput('err', 4096);
    const signalled = status > 128 && status < 128 + 65;
    return {
      code: signalled ? undefined : status,
      signal: signalled ? (SIGNALS.get(status - 128) ?? `signal ${status - 128}`) : undefined,
      timedOut,
      stdout: stdout.text,
      stderr: stderr.text,
      truncated: stdout.truncated,
    };
  }

  private readOutput(name: string, limit: number): { text: string; truncated: boolean } {
    let fd: number;
    try {
      fd = openSync(join(this.directory, name), 'r');
    } catch {
      return { text: '', truncated: false };
    }
    try {
      const buffer = Buffer.alloc(limit + 1);
      const length = readSync(fd, buffer, 0, buffer.length, 0);
      return { text: buffer.toString('utf8', 0, Math.min(length, limit)), truncated: length > limit };
    } finally {
      closeSync(fd);
    }
  }

  private nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private take(chunk: string): void {
    this.buffered += chunk;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      this.lines.push(this.buffered.slice(0, newline));
      this.buffered = this.buffered.slice(newline + 1);
      newline = this.buffered.indexOf('\n');
    }
    const waiter = this.waiter;
    const line = waiter === undefined ? undefined : this.lines.shift();
    if (waiter !== undefined && line !== undefined) {
      this.waiter = undefined;
      waiter.resolve(line);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure);
  }
}
