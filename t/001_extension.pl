# The extension loads in a fresh cluster, and shares made on one server combine
# on another: the share format is the same everywhere (text and binary).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $a = PostgreSQL::Test::Cluster->new('a');
$a->init;
$a->start;
my $b = PostgreSQL::Test::Cluster->new('b');
$b->init;
$b->start;
$_->safe_psql('postgres', 'CREATE EXTENSION ssn') for ($a, $b);

# split on a, combine on b from the text form
my $shares = $a->safe_psql('postgres',
	q{SELECT string_agg(quote_literal(s::text), ',') FROM unnest(ssn_split('across servers'::text, 2, 3)) AS s});
is($b->safe_psql('postgres', "SELECT ssn_combine(ARRAY[$shares]::ssn_share[], NULL::text)"),
	'across servers', 'shares made on one server combine on another');

# binary form: COPY BINARY out of a, into b
$a->safe_psql('postgres',
	q{CREATE TABLE s AS SELECT unnest(ssn_split(-123456789::int8, 3, 5)) AS share});
my $file = $a->basedir . '/shares.bin';
$a->safe_psql('postgres', "COPY s TO '$file' WITH (FORMAT binary)");
$b->safe_psql('postgres', "CREATE TABLE s (share ssn_share); COPY s FROM '$file' WITH (FORMAT binary)");
is($b->safe_psql('postgres', 'SELECT ssn_combine(array_agg(share), NULL::int8) FROM s'),
	'-123456789', 'binary shares move between servers');

# pg_dump / restore keeps share columns intact
my $dump = $a->basedir . '/dump.sql';
$a->command_ok([ 'pg_dump', '-d', $a->connstr('postgres'), '-f', $dump ], 'pg_dump');
$b->safe_psql('postgres', 'CREATE DATABASE restored');
$b->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $b->connstr('restored'), '-f', $dump ], 'restore');
is($b->safe_psql('restored', 'SELECT ssn_combine(array_agg(share), NULL::int8) FROM s'),
	'-123456789', 'dumped and restored shares still combine');

done_testing();
