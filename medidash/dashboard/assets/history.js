// Back, forward and a dcc.Link reach a URL the page's controls did not write: forget the one
// they wrote last (store `pushed`, see callbacks.py), so every control is set from the new
// URL. A capture listener on window runs before dcc.Location's, which hands the URL on.
["popstate", "_dashprivate_pushstate"].forEach(function (name) {
    window.addEventListener(
        name,
        function () {
            if (window.dash_clientside && window.dash_clientside.set_props) {
                window.dash_clientside.set_props("pushed", {data: null});
            }
        },
        true
    );
});
