// Starts GraphiQL with the explorer plugin and the headers editor on the page that loaded
// it. A file of its own, not an inline script: the page's Content-Security-Policy allows
// scripts from Wren's origin only.
"use strict";

(function () {
  const DEFAULT_QUERY = `# Run a query with Ctrl-Enter or the play button.
#
# The demo data (the embedded database, or wren seed)
# has users user1 ... userN, all with the password
# wren-demo-password. Log in with
#
#   mutation {
#     logIn(handle: "user1", password: "wren-demo-password") {
#       token
#     }
#   }
#
# and put the token in Headers below as
#   {"Authorization": "Bearer <token>"}
# to run viewer, feed and the mutations as that user.

{
  userByHandle(handle: "user1") {
    handle
    displayName
    posts(first: 2) {
      totalCount
      nodes { title likeCount }
    }
  }
}
`;

  // The query and variables live in the address bar (q=, variables=) so that a link
  // shares them; headers never do, they may hold a token.
  const parameters = new URLSearchParams(window.location.search);

  function updateURL(name, value) {
    if (value) {
      parameters.set(name, value);
    } else {
      parameters.delete(name);
    }
    const search = parameters.toString();
    history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
  }

  const url = window.location.href.split(/[?#]/)[0];
  const subscriptionUrl = new URL(url);
  subscriptionUrl.protocol = subscriptionUrl.protocol === "https:" ? "wss:" : "ws:";

  const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl: subscriptionUrl.toString() });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function WrenGraphiQL() {
    const [query, setQuery] = React.useState(parameters.get("q") || DEFAULT_QUERY);
    const [variables, setVariables] = React.useState(parameters.get("variables") || undefined);
    return React.createElement(GraphiQL, {
      fetcher,
      plugins: [explorer],
      query,
      variables,
      onEditQuery(value) {
        setQuery(value);
        updateURL("q", value);
      },
      onEditVariables(value) {
        setVariables(value);
        updateURL("variables", value);
      },
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(WrenGraphiQL),
  );
})();
