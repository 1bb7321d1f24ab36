// Every page the console offers, in menu order. The shell shows those whose
// requires(session) holds. Add a page: import it and put it in the list.
import { page as account } from './account.js';
import { page as users } from './users.js';
import { page as keys } from './keys.js';
import { page as workspaces } from './workspaces.js';
import { page as signingKeys } from './signing_keys.js';
import { page as access } from './access.js';

export const pages = [account, users, keys, workspaces, signingKeys, access];
