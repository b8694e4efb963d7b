// Live ticking of the password rules on the new-password form. The server enforces the same
// rules (reset.PasswordPolicy); this only shows, while typing, which ones are met.
(function () {
  "use strict";

  var list = document.getElementById("password-rules");
  var password = document.getElementById("password");
  if (!list || !password) { return; }

  function count(value, test) {
    var n = 0;
    for (var i = 0; i < value.length; i++) { if (test(value[i])) { n++; } }
    return n;
  }

  var isUpper = function (c) { return c !== c.toLowerCase() && c === c.toUpperCase(); };
  var isLower = function (c) { return c !== c.toUpperCase() && c === c.toLowerCase(); };
  var isDigit = function (c) { return /\p{Nd}/u.test(c); };
  var isSpecial = function (c) { return !/[\p{L}\p{N}\s]/u.test(c); };

  var measures = {
    length: function (v) { return Array.from(v).length; },
    upper: function (v) { return count(Array.from(v), isUpper); },
    lower: function (v) { return count(Array.from(v), isLower); },
    digit: function (v) { return count(Array.from(v), isDigit); },
    special: function (v) { return count(Array.from(v), isSpecial); }
  };

  function update() {
    var value = password.value;
    list.querySelectorAll("li[data-rule]").forEach(function (item) {
      var measure = measures[item.dataset.rule];
      if (!measure) { return; }
      var met = measure(value) >= Number(item.dataset.n || 0);
      if (met === item.classList.contains("met")) { return; }
      item.classList.toggle("met", met);
      item.classList.toggle("unmet", !met);
      var state = item.querySelector(".state");
      if (state) { state.textContent = "(" + (met ? list.dataset.met : list.dataset.unmet) + ")"; }
    });
  }

  password.addEventListener("input", update);
  update();
})();
