import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { adoptTokenFromFragment } from './auth';
import './styles.css';

// A demo link `/console/#token=<jwt>` signs in; the fragment is dropped from the address at once.
adoptTokenFromFragment();

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
