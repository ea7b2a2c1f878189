@OUT@/catalog.c: \
  tests/fixtures/formats/goose \
  tests/fixtures/formats/goose/20240101120000_create_authors.sql \
  tests/fixtures/formats/goose/20240102090000_author_functions.sql \
  tests/fixtures/formats/goose/20240103150000_create_posts.sql \
  tests/fixtures/formats/goose/20240104110000_archive_empty_drafts.sql \
  tests/fixtures/formats/goose/20240105083000_post_tags.sql
