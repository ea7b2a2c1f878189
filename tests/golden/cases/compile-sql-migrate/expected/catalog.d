@OUT@/catalog.c: \
  tests/fixtures/formats/sql-migrate \
  tests/fixtures/formats/sql-migrate/20230222172540-create-customers.sql \
  tests/fixtures/formats/sql-migrate/20230222180000-customer-functions.sql \
  tests/fixtures/formats/sql-migrate/20230301090000-tickets-1.sql \
  tests/fixtures/formats/sql-migrate/20230301090000-tickets-2.sql \
  tests/fixtures/formats/sql-migrate/20230310120000-ticket-indexes.sql \
  tests/fixtures/formats/sql-migrate/20230315101500-ticket-priority.sql
