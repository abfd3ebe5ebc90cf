import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiClient } from './api/client';
import { App } from './App';
import { parseRoute } from './lib/router';
import { PAGE } from './state/sessionModel';
import { ApiContext } from './views/context';
import './styles.css';

const api = new ApiClient();
// A deep link to a session: start loading it while the app boots.
const route = parseRoute(window.location.pathname, window.location.search);
if (route.name === 'session') api.prefetch([api.eventsPath(route.id, { after_seq: 0, limit: PAGE }), api.sessionPath(route.id)]);
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <ApiContext.Provider value={api}>
      <App />
    </ApiContext.Provider>
  </StrictMode>,
);
