// A form marked data-busy-message says so while the server works on it (an upload parsed and
// checked row by row can take a minute), and cannot be sent twice meanwhile.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const message = form.dataset.busyMessage;
  if (!message || event.defaultPrevented) return;
  form.querySelectorAll("button[type=submit], input[type=submit]").forEach((button) => {
    button.disabled = true;
  });
  const status = document.createElement("p");
  status.className = "busy";
  status.setAttribute("role", "status");
  status.textContent = message;
  form.append(status);
});
