// Runs before the app's bundle has even downloaded: for a deep link to a session, start its first
// requests now (the first render waits on them). The app adopts these responses (ApiClient).
// A separate file, not an inline script, so a strict Content-Security-Policy (script-src 'self')
// still allows it.
(function () {
  var m = /^\/sessions\/([A-Za-z0-9_-]{1,128})\/?$/.exec(window.location.pathname);
  if (!m || typeof fetch !== 'function') return;
  var headers = { Accept: 'application/json' };
  try {
    var key = window.sessionStorage.getItem('swarmscope.apiKey');
    if (key) headers.Authorization = 'Bearer ' + key;
  } catch (e) {
    // storage disabled: no key to send
  }
  var early = {};
  // The first history page and the summary (whose event_count tells the app whether the newest
  // page is to be fetched too).
  ['/api/v1/sessions/' + m[1] + '/events?after_seq=0&limit=5000', '/api/v1/sessions/' + m[1]].forEach(function (path) {
    early[path] = fetch(path, { headers: headers });
  });
  window.__swarmscopeEarly = early;
})();
