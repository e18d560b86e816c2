"""GraphQL over HTTP: the /graphql endpoint, its protocol and its protection against abuse."""
