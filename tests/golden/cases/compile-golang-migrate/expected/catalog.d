@OUT@/catalog.c: \
  tests/fixtures/formats/golang-migrate \
  tests/fixtures/formats/golang-migrate/000001_create_users.up.sql \
  tests/fixtures/formats/golang-migrate/000001_create_users.down.sql \
  tests/fixtures/formats/golang-migrate/000002_create_products.up.sql \
  tests/fixtures/formats/golang-migrate/000002_create_products.down.sql \
  tests/fixtures/formats/golang-migrate/000003_create_orders.up.sql \
  tests/fixtures/formats/golang-migrate/000003_create_orders.down.sql \
  tests/fixtures/formats/golang-migrate/000004_add_refunded_status.up.sql \
  tests/fixtures/formats/golang-migrate/000004_add_refunded_status.down.sql \
  tests/fixtures/formats/golang-migrate/000005_users_email_lower_idx.up.sql \
  tests/fixtures/formats/golang-migrate/000005_users_email_lower_idx.down.sql \
  tests/fixtures/formats/golang-migrate/000006_order_lookup_indexes.up.sql \
  tests/fixtures/formats/golang-migrate/000006_order_lookup_indexes.down.sql \
  tests/fixtures/formats/golang-migrate/000007_audit_log.up.sql \
  tests/fixtures/formats/golang-migrate/000007_audit_log.down.sql \
  tests/fixtures/formats/golang-migrate/000008_backfill_display_names.up.sql
