/**
 * PostgreSQL answers a COMMIT that stopped waiting for its synchronous standby (the statement
 * timed out or was cancelled while the standby was unreachable) with a WARNING, not an error:
 * "canceling wait for synchronous replication ... The transaction has already committed
 * locally, but might not have been replicated to the standby." Such a commit may exist only
 * on this server and vanish in a failover, so it must never count as acknowledged.
 */
export class CommitNotReplicated extends Error {
  constructor(detail: string) {
    super(`commit not confirmed by the synchronous standby: ${detail}`);
    this.name = 'CommitNotReplicated';
  }
}

const UNREPLICATED_COMMIT = /wait for synchronous replication/;

interface NoticeSource {
  on(event: 'notice', listener: (notice: { message?: string }) => void): unknown;
  off(event: 'notice', listener: (notice: { message?: string }) => void): unknown;
}

/**
 * Runs a statement that commits (COMMIT, or an autocommit INSERT) and throws
 * CommitNotReplicated when the server warns that the standby has not confirmed it.
 */
export async function replicatedCommit<T>(client: NoticeSource, commit: () => Promise<T>): Promise<T> {
  let warning: string | undefined;
  const onNotice = (notice: { message?: string }) => {
    if (notice.message && UNREPLICATED_COMMIT.test(notice.message)) warning = notice.message;
  };
  client.on('notice', onNotice);
  let result: T;
  try {
    result = await commit();
  } finally {
    client.off('notice', onNotice);
  }
  if (warning !== undefined) throw new CommitNotReplicated(warning);
  return result;
}
