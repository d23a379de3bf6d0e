// report.html's player: any element with data-t (seconds) seeks the audio there and plays; the segment
// and word playing are highlighted; Space plays or pauses, Left/Right step 5 s; a segment or a range
// can be replayed in a loop at 1x or 0.75x. Inline in the page; loads nothing.
(function () {
  "use strict";
  var audio = document.getElementById("audio");
  if (!audio) return;
  document.documentElement.classList.add("playable");
  document.getElementById("controls").hidden = false;
  var $ = function (id) { return document.getElementById(id); };
  var follow = $("follow"), from = $("loop-from"), to = $("loop-to");
  var loopButtons = [$("loop-segment"), $("loop-range")];
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-start]"));
  var starts = rows.map(function (r) { return +r.getAttribute("data-start"); });
  var loop = null, current = null, currentWord = null, wrapping = false;

  function clock(t) {
    var tenths = Math.round(t * 10), m = Math.floor(tenths / 600), s = (tenths % 600) / 10;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }
  function parseClock(text) {
    var parts = String(text).trim().split(":");
    if (!parts[0]) return NaN;
    return parts.reduce(function (total, part) { return total * 60 + Number(part); }, 0);
  }
  function play(t) {
    audio.currentTime = Math.max(0, t);
    var started = audio.play();
    if (started && started.catch) started.catch(function () {});
  }
  function rowAt(t) {
    var low = 0, high = starts.length - 1, found = -1;
    while (low <= high) {
      var mid = (low + high) >> 1;
      if (starts[mid] <= t) { found = mid; low = mid + 1; } else { high = mid - 1; }
    }
    for (var i = found; i >= 0 && i > found - 3; i--) {  // segments may overlap a little
      if (t < +rows[i].getAttribute("data-end")) return rows[i];
    }
    return null;
  }
  function wordAt(row, t) {
    var found = null;
    if (!row) return null;
    var words = row.querySelectorAll(".w[data-t]");
    for (var i = 0; i < words.length && +words[i].getAttribute("data-t") <= t; i++) found = words[i];
    return found;
  }
  function show() {
    var t = audio.currentTime;
    if (loop && t >= loop[1]) { wrapping = true; audio.currentTime = t = loop[0]; }
    var row = rowAt(t);
    if (row !== current) {
      if (current) current.classList.remove("now");
      current = row;
      if (row) {
        row.classList.add("now");
        if (follow.checked && !audio.paused) row.scrollIntoView({block: "nearest"});
      }
    }
    var word = wordAt(row, t);
    if (word !== currentWord) {
      if (currentWord) currentWord.classList.remove("now");
      currentWord = word;
      if (word) word.classList.add("now");
    }
  }
  function tick() { show(); if (!audio.paused) window.requestAnimationFrame(tick); }

  function stopLoop() {
    loop = null;
    loopButtons.forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
  }
  function startLoop(start, end, button) {
    if (!(end > start)) return;
    loop = [start, end];
    from.value = clock(start);
    to.value = clock(end);
    button.setAttribute("aria-pressed", "true");
    play(start);
  }

  audio.addEventListener("play", function () { window.requestAnimationFrame(tick); });
  audio.addEventListener("timeupdate", show);
  audio.addEventListener("seeked", show);
  audio.addEventListener("seeking", function () {
    if (wrapping) { wrapping = false; return; }
    if (loop && (audio.currentTime < loop[0] - 0.05 || audio.currentTime > loop[1])) stopLoop();
  });
  audio.addEventListener("ended", function () { if (loop) { wrapping = true; play(loop[0]); } });
  audio.addEventListener("error", function () {
    $("listening").insertAdjacentText("afterbegin", "This browser cannot play the audio. ");
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-t]") : null;
    if (!target) return;
    var t = +target.getAttribute("data-t");
    var until = target.getAttribute("data-until");
    if (until !== null) {  // the spectrogram: the time under the pointer
      var box = target.getBoundingClientRect();
      t += (event.clientX - box.left) / box.width * (+until - t);
    }
    if (!target.classList.contains("jump")) event.preventDefault();
    if (loop && (t < loop[0] || t >= loop[1])) stopLoop();
    play(t);
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.target === audio) return;
    if (/^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(event.target.tagName) || event.target.isContentEditable) return;
    if (event.key === " ") {
      event.preventDefault();
      if (audio.paused) play(audio.currentTime); else audio.pause();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      var step = event.key === "ArrowLeft" ? -5 : 5;
      audio.currentTime = Math.min(Math.max(0, audio.currentTime + step), audio.duration || Infinity);
    }
  });

  $("loop-segment").addEventListener("click", function () {
    this.blur();
    if (loop) { stopLoop(); return; }
    var row = current || rowAt(audio.currentTime);
    if (!row) {  // between segments: the next one
      var next = starts.findIndex(function (s) { return s > audio.currentTime; });
      row = rows[next < 0 ? rows.length - 1 : next];
    }
    if (row) startLoop(+row.getAttribute("data-start"), +row.getAttribute("data-end"), this);
  });
  $("loop-range").addEventListener("click", function () {
    this.blur();
    if (loop) { stopLoop(); return; }
    var selection = window.getSelection();
    if (selection && !selection.isCollapsed) {  // words selected in the transcript
      var words = Array.prototype.filter.call(document.querySelectorAll(".w[data-t]"),
        function (w) { return selection.containsNode(w, true); });
      if (words.length) {
        from.value = clock(+words[0].getAttribute("data-t"));
        to.value = clock(+words[words.length - 1].getAttribute("data-end"));
      }
    }
    startLoop(parseClock(from.value), parseClock(to.value), this);
  });
  $("mark-from").addEventListener("click", function () { this.blur(); from.value = clock(audio.currentTime); });
  $("mark-to").addEventListener("click", function () { this.blur(); to.value = clock(audio.currentTime); });
  $("speed").addEventListener("change", function () { audio.playbackRate = +this.value; });
})();
