import { describe, expect, it } from 'vitest';
import { liveButton, sessionDisplay } from '../src/model/sessionStatus';

describe('session status on the dashboard', () => {
  it('never calls a completed session live', () => {
    const d = sessionDisplay({ missing: false, loading: false, endStatus: null, summaryStatus: 'completed' });
    expect(d).toEqual({ status: 'completed', ended: true, missing: false });
    expect(liveButton(true, d).text).not.toContain('LIVE');
    expect(liveButton(true, d).text).toContain('ENDED');
  });

  it('says an unknown session is not found, not active', () => {
    const d = sessionDisplay({ missing: true, loading: false, endStatus: null, summaryStatus: null });
    expect(d.status).toBe('not found');
    expect(liveButton(true, d).text).toContain('WAITING');
  });

  it('is live while the session is active, and a session_end in the log wins over the summary', () => {
    const active = sessionDisplay({ missing: false, loading: false, endStatus: null, summaryStatus: 'active' });
    expect(liveButton(true, active).text).toBe('● LIVE');
    expect(liveButton(false, active).text).toContain('PAUSED');
    expect(sessionDisplay({ missing: false, loading: false, endStatus: 'failed', summaryStatus: 'active' })).toMatchObject({ status: 'failed', ended: true });
  });
});
