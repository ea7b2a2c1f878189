CREATE TABLE notes (body text);
INSERT INTO notes VALUES (E'it\'s here;');
INSERT INTO notes VALUES ('x');
INSERT INTO notes VALUES (E'C:\');
