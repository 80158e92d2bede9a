/* The demo shop's statistics script. It is embedded as
 *   <script type="text/plain" data-category="analytics" src=".../analytics.js">
 * so the browser does not run it until the cookie banner enables the analytics category (P07).
 * It then sends one anonymous page view to Pledge's beacon, which keeps only a count per day and
 * path: no address, no cookie, no user agent (P08). */
(function () {
  "use strict";
  window.demoAnalyticsRan = true;
  var url = "/consent/beacon?p=" + encodeURIComponent(window.location.pathname);
  if (navigator.sendBeacon) {
    navigator.sendBeacon(url);
  }
})();
