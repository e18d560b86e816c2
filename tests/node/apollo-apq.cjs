// Apollo Client with its persisted-queries link against a GraphQL endpoint.
// Usage: node apollo-apq.cjs URL HANDLE post|get OPERATION_NAME
// Prints every HTTP exchange and the results of three queries as JSON.
const { ApolloClient, InMemoryCache, HttpLink, gql } = require('@apollo/client/core');
const { createPersistedQueryLink } = require('@apollo/client/link/persisted-queries');
const { createHash } = require('node:crypto');

const [url, handle, method, name] = process.argv.slice(2);
const exchanges = [];

async function recordingFetch(uri, options) {
  const response = await fetch(uri, options);
  const text = await response.clone().text();
  exchanges.push({
    method: options.method,
    url: String(uri),
    request: options.body ? JSON.parse(options.body) : null,
    status: response.status,
    response: JSON.parse(text),
  });
  return response;
}

function client() {
  const persisted = createPersistedQueryLink({
    sha256: (text) => createHash('sha256').update(text).digest('hex'),
    useGETForHashedQueries: method === 'get',
  });
  const http = new HttpLink({ uri: url, fetch: recordingFetch });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

// The operation name makes the document (and its hash) unique to each run.
const query = gql(`
  query ${name}($handle: String!) {
    userByHandle(handle: $handle) {
      id
      handle
      displayName
    }
  }
`);

(async () => {
  const results = [];
  const first = client();
  for (const apollo of [first, first, client()]) {
    const { data, errors } = await apollo.query({
      query,
      variables: { handle },
      fetchPolicy: 'network-only',
    });
    results.push({ data, errors: errors ?? null });
  }
  console.log(JSON.stringify({ results, exchanges }, null, 2));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
