// Reading a streamed answer of one JSON object per line (application/x-ndjson): the long runs (impact
// preview, migration, verifying every audit chain) report their progress this way.
(function () {
  "use strict";

  // Calls handle(object) for every line of response's body as it arrives.
  window.readNdjson = async function (response, handle) {
    if (!response.ok || !response.body) {
      throw new Error("HTTP " + response.status);
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var pending = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) {
        break;
      }
      pending += decoder.decode(chunk.value, { stream: true });
      var lines = pending.split("\n");
      pending = lines.pop();
      lines.filter(Boolean).forEach(function (line) { handle(JSON.parse(line)); });
    }
    if (pending.trim()) {
      handle(JSON.parse(pending));
    }
  };
})();
