/* 本单位时限: the chosen clock fills the process and clock fields; only that variant's customer types and supply
   modes are offered. Without JavaScript the server still checks every field. */
(function () {
  "use strict";
  var choice = document.getElementById("clock-choice");
  if (!choice) { return; }
  var form = document.getElementById("override-form");
  function sync() {
    var option = choice.options[choice.selectedIndex];
    var process = option ? option.getAttribute("data-process") || "" : "";
    document.getElementById("process-key").value = process;
    document.getElementById("clock-key").value = option ? option.getAttribute("data-clock") || "" : "";
    ["customer_type", "supply_mode"].forEach(function (name) {
      var select = form.elements[name];
      Array.prototype.forEach.call(select.options, function (o) {
        var own = o.getAttribute("data-process");
        o.hidden = !!own && own !== process;
        if (o.hidden && o.selected) { select.value = ""; }
      });
    });
  }
  choice.addEventListener("change", sync);
  sync();
}());
