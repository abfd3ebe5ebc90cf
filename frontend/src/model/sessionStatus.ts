/**
 * What the dashboard says about a session: its status, and what the live button means. A session
 * that ended is not "live" even though the cursor follows its newest event; one the gateway does
 * not know is "not found", never "active".
 */
export interface SessionFacts {
  /** The gateway answered 404 and no event has arrived since. */
  missing: boolean;
  loading: boolean;
  /** The status a session_end in the log stated. */
  endStatus: string | null;
  /** The status of the summary fetched at open. */
  summaryStatus: string | null | undefined;
}

export interface SessionDisplay {
  status: string;
  ended: boolean;
  missing: boolean;
}

export function sessionDisplay(f: SessionFacts): SessionDisplay {
  if (f.missing) return { status: 'not found', ended: false, missing: true };
  if (f.loading && !f.endStatus && !f.summaryStatus) return { status: 'loading', ended: false, missing: false };
  const status = f.endStatus ?? (f.summaryStatus || 'active');
  return { status, ended: status !== 'active', missing: false };
}

export interface LiveButton {
  text: string;
  className: string;
  title: string;
}

/** The live toggle: LIVE only when the cursor follows a session that can still grow. */
export function liveButton(live: boolean, d: SessionDisplay): LiveButton {
  if (!live) return { text: '❚❚ PAUSED', className: 'paused', title: 'Paused at the cursor. Click (or F5) to follow the newest event.' };
  if (d.missing) return { text: '… WAITING', className: 'waiting', title: 'No such session yet: its first events will show here as they arrive.' };
  if (d.ended)
    return { text: '■ ENDED', className: 'ended', title: `The session ended (${d.status}): the cursor is at its last event. Click to pause there.` };
  return { text: '● LIVE', className: 'on', title: 'Live: the cursor follows the newest event. Click to pause.' };
}
