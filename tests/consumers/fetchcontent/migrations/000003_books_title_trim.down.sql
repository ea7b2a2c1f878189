DROP TRIGGER books_trim_title ON books;
DROP FUNCTION books_trim_title();
