@OUT@/catalog.c: \
  tests/fixtures/formats/dbmate \
  tests/fixtures/formats/dbmate/20240301100000_create_warehouses.sql \
  tests/fixtures/formats/dbmate/20240302110000_stock_levels.sql \
  tests/fixtures/formats/dbmate/20240303120000_reorder_rules.sql \
  tests/fixtures/formats/dbmate/20240304130000_stock_sku_index.sql \
  tests/fixtures/formats/dbmate/20240305140000_stock_movements.sql
