// Customer portal: lists the catalogue items from the API.
const status = document.getElementById('status');
fetch('/api/items')
  .then((response) => response.json())
  .then((items) => { status.textContent = `${items.length} items in the catalogue`; })
  .catch(() => { status.textContent = 'Catalogue unavailable'; });
