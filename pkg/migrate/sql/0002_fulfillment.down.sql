DROP TABLE loans;
DROP TABLE items;
DROP TABLE users;
