// Admin console: shows the API's health and the items it holds.
const status = document.getElementById('status');
fetch('/api/health')
  .then((response) => response.json())
  .then((health) => { status.textContent = `API ${health.status} (version ${health.version})`; })
  .catch(() => { status.textContent = 'API unreachable'; });
// Which environment this is: /config.json, written by the deploy tool (the build is the
// same everywhere).
fetch('/config.json')
  .then((response) => response.json())
  .then((config) => { document.title = `${document.title} (${config.env})`; })
  .catch(() => {});
