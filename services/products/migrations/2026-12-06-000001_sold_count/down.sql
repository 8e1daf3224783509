DROP TABLE processed_events;
ALTER TABLE products DROP COLUMN sold_count;
