@OUT@/catalog.c: \
  tests/fixtures/formats/numeric-order \
  tests/fixtures/formats/numeric-order/1_a.up.sql \
  tests/fixtures/formats/numeric-order/1_a.down.sql \
  tests/fixtures/formats/numeric-order/2_b.up.sql \
  tests/fixtures/formats/numeric-order/2_b.down.sql \
  tests/fixtures/formats/numeric-order/10_c.up.sql \
  tests/fixtures/formats/numeric-order/10_c.down.sql
