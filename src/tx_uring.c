/*
 * The uring backend: not built yet.
 */
#include "tx_int.h"

#include <errno.h>

int _jumbo_tx_uring_supported(void)
{
	_jumbo_tx_fail(-EOPNOTSUPP, "the uring send backend is not built");
	return 0;
}

int _jumbo_tx_uring_open(struct jumbo_tx *tx, const struct jumbo_tx_params *p)
{
	return _jumbo_tx_fail(-EOPNOTSUPP, "the uring send backend is not built");
}
