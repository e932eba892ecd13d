// Wires the example portal page: job and token come from the page's query string. A real
// portal writes them into the element's attributes from its own backend instead.
import './tally-progress.js';

const params = new URLSearchParams(location.search);
const progress = document.getElementById('progress');
const done = document.getElementById('done');
if (params.get('token')) progress.setAttribute('token', params.get('token'));
if (params.get('server')) progress.setAttribute('server', params.get('server'));
if (params.get('transport')) progress.setAttribute('transports', params.get('transport'));
progress.setAttribute('job', params.get('job') || '');

progress.addEventListener('tally-complete', (event) => {
  done.hidden = false;
  done.textContent = `All done: ${event.detail.succeeded} orders imported.`;
});
progress.addEventListener('tally-failed', () => {
  done.hidden = false;
  done.textContent = 'The import failed. Contact support with the job id above.';
});
