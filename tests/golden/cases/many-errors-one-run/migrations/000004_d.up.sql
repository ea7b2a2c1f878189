SELECT $fn$ unterminated
