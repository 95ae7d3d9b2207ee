// What drayd (src/daemon/cli-pool.ts) and a waiting CLI process (src/cli/warm-worker.ts) agree on.
/** Set in a waiting CLI process's environment, to drayd's pid: who started it (tests find them by it). */
export const WARM_PARENT_ENV = 'DRAY_CLI_PARENT';
/** The waiting process's fds: drayd's listening socket, and a socket pair with drayd on which it
 * says it is ready (WARM_READY) and then, for each command, that it forked a child for it
 * (WARM_CLAIMED, as WARM_CLAIMED_WORD in native/warm-proto.h), and drayd tells it
 * to go (WARM_QUIT, or by closing its end). */
export const WARM_LISTEN_FD = 3;
export const WARM_STATUS_FD = 4;
export const WARM_READY = 'r';
export const WARM_CLAIMED = 'c';
export const WARM_QUIT = 'q';
/** The exit status of a waiting process that left because a rebuild made it out of date. */
export const WARM_STALE_STATUS = 3;
/** The socket in drayd's exec root, there while a process waits; the launcher's default is the
 * default exec root's. The listening socket itself is bound at WARM_BOUND_NAME. */
export const WARM_SOCKET_NAME = 'cli.sock';
export const WARM_BOUND_NAME = 'cli-bound.sock';
/** Set in the environment of a CLI process drayd starts to wait for a command. */
export const WARM_WORKER_ENV = 'DRAY_CLI_WORKER';
/** The start of the dray CLI's User-Agent: a request carrying it wakes drayd's pool. */
export const DRAY_CLIENT_AGENT = 'Dray-Client/';
/** Ends the User-Agent of the waiting process's warm-up request, which wakes nothing. */
export const WARM_AGENT_MARK = ' warm-cli';
/** drayd's own API address, for the waiting process's warm-up request. */
export const WARM_HOST_ENV = 'DRAY_CLI_WARMUP_HOST';
