"""Intent, entities, sentiment and language for inbound messages. Filled in by the NLP issue;
until then every inbound message waits with `nlp.status: "pending"`."""
