# The extension's own errors and warnings never put the statement that caused them
# in the server log (a value passed to ssn_store as a literal would be there), while
# PostgreSQL's own errors still do (log_min_error_statement): the calibration that
# shows the search would find a literal.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('logs');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);    # UTF8 whatever the caller's locale
# as the README advises for a node that stores secrets (the test framework logs every statement)
$node->append_conf('postgresql.conf', "log_statement = none\nlog_min_error_statement = warning\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ssn');

my ($rc, $out, $err);
$rc = $node->psql('postgres', q{SELECT ssn_store('s3cret-in-a-failed-store'::text, 5, 3)}, stderr => \$err);
isnt($rc, 0, 'ssn_store with k > n fails');
like($err, qr/ERROR/, "...with the extension's error ($err)");
$rc = $node->psql('postgres', q{SELECT ssn_combine(ssn_split('\x41ff42'::bytea, 2, 3), NULL::text) || 's3cret-in-a-combine'},
	stderr => \$err);
isnt($rc, 0, 'combining bytes that are not text fails');
$rc = $node->psql('postgres', q{SELECT 's3cret-in-a-cast'::int}, stderr => \$err);
isnt($rc, 0, "PostgreSQL's own error (a bad integer literal)");

my $log = slurp_file($node->logfile);
like($log, qr/s3cret-in-a-cast/, "calibration: PostgreSQL's error puts its statement in the log");
unlike($log, qr/s3cret-in-a-failed-store/, "the extension's error does not (the literal given to ssn_store)");
unlike($log, qr/s3cret-in-a-combine/, "...nor does its error about a rebuilt value");
like($log, qr/ERROR:  the rebuilt value is not valid text/, "...although the error itself is logged");

done_testing();
