// Boots the vendored GraphiQL on this server's /graphql. Send a token in the Headers tab:
// {"Authorization": "Bearer <token>"} (a browser session does not authorise GraphQL).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("graphiql");
  var fetcher = window.GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  var element = window.React.createElement(window.GraphiQL, {
    fetcher: fetcher,
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultHeaders: '{"Authorization": "Bearer <paste a token>"}',
    defaultQuery: '{ change(repo: "acme/shop", number: 42) {\n    riskArea verdict { status gaps }\n    approvals { reviewer { login } stale independent }\n  } }\n',
  });
  window.ReactDOM.createRoot(root).render(element);
});
