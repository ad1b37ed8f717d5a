// Customer portal: lists the catalogue items from the API.
const status = document.getElementById('status');
fetch('/api/items')
  .then((response) => response.json())
  .then((items) => { status.textContent = `${items.length} items in the catalogue`; })
  .catch(() => { status.textContent = 'Catalogue unavailable'; });
// Which environment this is: /config.json, written by the deploy tool (the build is the
// same everywhere).
fetch('/config.json')
  .then((response) => response.json())
  .then((config) => { document.title = `${document.title} (${config.env})`; })
  .catch(() => {});
